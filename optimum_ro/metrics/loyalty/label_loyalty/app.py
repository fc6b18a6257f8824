"""The Hugging Face Space of the label_loyalty metric:
``evaluate``'s input widget around the module beside it."""

from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load(str(Path(__file__).with_name("label_loyalty.py")))
launch_gradio_widget(module)
