"""The Space's widget: evaluate's standard Gradio UI around this metric module."""

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("metric/imagenet_multilabel.py")
launch_gradio_widget(module)
