"""Reading a project and its layers: the input edge (lowest floor with crs)."""
