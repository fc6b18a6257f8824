"""The Hugging Face Space of the romanian_tasks metric:
``evaluate``'s input widget around the module beside it."""

from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load(str(Path(__file__).with_name("romanian_tasks.py")))
launch_gradio_widget(module)
