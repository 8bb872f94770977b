"""Benchmark evaluation: triplet layouts, PSNR/SSIM/IE metrics, blend/DIS baselines and the runner."""
from .baselines import blend, dis, get_baseline
from .datasets import Triplet, load_eval_triplets
from .evaluate import EvalResult, evaluate, format_table, save_results
from .metrics import interpolation_error, psnr, ssim

__all__ = ["Triplet", "load_eval_triplets", "psnr", "ssim", "interpolation_error", "blend", "dis", "get_baseline",
           "EvalResult", "evaluate", "format_table", "save_results"]
