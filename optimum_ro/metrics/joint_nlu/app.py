"""The Hugging Face Space of the joint_nlu metric:
``evaluate``'s input widget around the module beside it."""

from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load(str(Path(__file__).with_name("joint_nlu.py")))
launch_gradio_widget(module)
