"""The web page (`filmnet serve`): `handlers` holds the logic (no Gradio needed), `app` the Gradio Blocks."""
