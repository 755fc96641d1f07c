"""The mistakes of models in the paper's taxonomy: the experts' review of ViT-3B and Greedy Soups
(categories, severities, the 481 confused class pairs) shipped as package data, and the automatic
categoriser that puts any model's mistakes in the same taxonomy.

Owns: `experts` (the paper's review and the two models' predictions rebuilt from it),
`class_relations` (the categoriser's data, `data/taxonomy/`: superclasses, ReaL co-occurrence,
overlapping classes, the WordNet hierarchy and out-of-vocabulary relatives), `categories` (the
taxonomy's categories and families, the categoriser that runs the rules in order, their counts
and Peychev et al.'s lenient accuracies; the image rules plug in as callables), `label_rules`
(the rules that need no image, each with its evidence sentences).
May import: `metric`, `dataset_script.classes`.
"""
