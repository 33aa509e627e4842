"""Supervised fine-tuning data of any pipeline: the three file shapes (`formats`: vertex `contents`, chat `messages`,
TRL `prompt-completion`), token counts and the tuning cost estimate (`tokens`), what a target's tuning service
refuses (`limits`), and the checks of a file (`validation`). Crafter's `format` and SGD's `format` write these
files; `crafter finetune` reads them."""
