"""The mistakes of models in the paper's taxonomy: the experts' review of ViT-3B and Greedy Soups
(categories, severities, the 481 confused class pairs) shipped as package data, and the automatic
categoriser that puts any model's mistakes in the same taxonomy.

Owns: `experts` (the paper's review and the two models' predictions rebuilt from it),
`class_relations` (the categoriser's data, `data/taxonomy/`: superclasses, ReaL co-occurrence,
overlapping classes, the WordNet hierarchy and out-of-vocabulary relatives), `categories` (the
rules, their evidence, families, counts and Peychev et al.'s lenient accuracies; the image rules
plug in as callables).
May import: `metric`, `dataset_script.classes`.
"""
