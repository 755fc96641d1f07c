"""The mistakes of models in the paper's taxonomy: the experts' review of ViT-3B and Greedy Soups
(categories, severities, the 481 confused class pairs) shipped as package data.

Owns: `experts` (the paper's review and the two models' predictions rebuilt from it).
May import: `metric`, `dataset_script.classes`.
"""
