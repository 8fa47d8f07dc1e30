"""What a deployed lab leaves on disk: the saved plan, the journal, runtime link changes."""
