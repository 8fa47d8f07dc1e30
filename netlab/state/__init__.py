"""What a deployed lab leaves on disk, all of it untrusted when read back: the run
directory and its trust checks (layout), the saved plan (plans), the per-lab lock (locks),
the typed journal (journal), runtime link changes (linkstate); `store` re-exports them."""
