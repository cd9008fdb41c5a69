"""What a user would call instead of writing each kernel: the peers `dojo bench --peers` shows."""
