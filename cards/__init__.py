"""Card templates (jinja2), shipped as package data so that installed copies can render cards.

- ``dataset_card.md``: the Hub dataset card, rendered by ``dataset_script.dataset_card`` (every
  text of the annotations' provenance escaped for markdown first).
- ``model_card_results.md``: the results section for a model card, rendered for
  ``eval_cli.scores.model_card`` by ``dataset_script.writers.markdown_card``, every value escaped
  for markdown and HTML.
- ``results_dataset_card.md``: the card of a results dataset, rendered by
  ``eval_cli.scores.results_dataset`` (only the repository id, checked, and counts go in).
"""

from importlib import resources


def read_template(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
