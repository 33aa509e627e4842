"""Everything about a local student, shared by the Crafter (SFT) and SGD (GRPO) pipelines.

- `chat_template`: what a chat template accepts (system role, strict alternation), conversations folded to fit it,
  and ChatML with its special tokens and EOS for a tokenizer without a template.
- `loading`: the one loader: a base model, a checkpoint, an HF id, the embedded model, or an adapter merged into
  its base, with a tokenizer that has a chat template and a pad token.
- `precision`: the device and dtype to train and generate in (bf16 only where the hardware has it natively) and
  the matching trainer arguments.
- `lora`: a PEFT LoRA config from the usual settings (r, alpha, dropout, target modules).
- `progress`: a trainer callback that drives teachkit's progress bar and keeps the loss history, a time limit, and
  the switch that quiets the libraries' own printing.
- `artifacts`: saving what a run produced (adapter, optional merged model, tokenizer) with a model card and a
  machine-readable `teachkit-training.json` that later stages (`eval`) read.
- `bootstrap`: the paired bootstrap interval both evals report.
- `served`: a student tuned and served by a cloud service, known by its tuning job record: the endpoint's spec and
  the prompt its data taught it.
"""
