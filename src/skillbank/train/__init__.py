"""Training the local policy: SFT data from expert experience (`sft_data`), tokenisation
with the loss mask (`sft_tokens`), the run configuration (`sft_config`) and the LoRA
trainer (`sft_trainer`). Everything that needs torch is imported inside functions, so the
data step runs from the core install."""
