"""Channel-neutral domain: settings, command grammar, the assistant, job lifecycle and delivery."""
