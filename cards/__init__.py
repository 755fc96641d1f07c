"""Card templates (jinja2), shipped as package data so that installed copies can render cards.

- ``dataset_card.md``: the Hub dataset card, rendered by ``dataset_script.build``.
- ``model_card_results.md``: the results section for a model card, rendered by ``eval_cli.hub``
  with every value escaped for markdown and HTML (its environment's ``finalize``).
- ``results_dataset_card.md``: the card of a results dataset, rendered by
  ``eval_cli.scores.results_dataset`` (only the repository id, checked, and counts go in).
"""

from importlib import resources


def read_template(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
