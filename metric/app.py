"""The Space's widget: evaluate's standard Gradio UI around this metric module."""

import evaluate
import imagenet_multilabel.metric
from evaluate.utils import launch_gradio_widget

module = evaluate.load(imagenet_multilabel.metric.PATH)
launch_gradio_widget(module)
