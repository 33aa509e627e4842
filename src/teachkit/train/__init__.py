"""What the trainers share (Crafter SFT in `crafter/finetune.py`, SGD GRPO in `sgd/train.py`).

- `precision`: the device and dtype to train on (bf16 on a GPU that has it, fp32 on a CPU) and the matching
  trainer arguments.
- `lora`: a PEFT LoRA config from the usual settings (r, alpha, dropout, target modules).
- `progress`: a trainer callback that drives teachkit's progress bar and keeps the loss history, a time limit, and
  the switch that quiets the libraries' own printing.
- `chat`: ChatML for a tokenizer that has no chat template (saved with the trained tokenizer).
- `artifacts`: saving what a run produced (adapter, optional merged model, tokenizer) with a model card and a
  machine-readable `teachkit-training.json` that later stages (`eval`) read.
"""
