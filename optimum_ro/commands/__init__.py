"""What every ``optimum-ro`` / ``optimum-cli ro`` command shares: argument checks that run before anything heavy
loads, one-line error reports, logging set-up, and the ``optimum-cli`` registration classes.

    from optimum_ro.commands import UsageError, check_model_folder
    path = check_model_folder(args.model, flag="--model")   # raises UsageError naming the path and the fix
"""

from .checks import check_data, check_model_folder, check_safetensors_file
from .errors import UsageError, one_line_error

__all__ = ["UsageError", "check_data", "check_model_folder", "check_safetensors_file", "one_line_error"]
