"""Source readers: one module per kind of input file (vector, point table, corner table,
meter table, returned sheet), registered in :data:`READERS`."""
