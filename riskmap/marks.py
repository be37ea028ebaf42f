"""Shared marks: the internal-use marking and the priority classes' colours and names.

Every output carries :data:`INTERNAL`; maps, sheets, ledgers and field files
colour and name the classes 1–5 from here, so they agree everywhere.
"""

INTERNAL = "内部资料 注意保密"
CLASS_COLOURS = {1: "#1a9850", 2: "#91cf60", 3: "#fee08b", 4: "#fc8d59", 5: "#d73027"}
CLASS_NAMES = {1: "1 低", 2: "2 较低", 3: "3 中", 4: "4 较高", 5: "5 高"}
# colours of the input layers drawn over the map, in project order
LAYER_COLOURS = ("#6a3d9a", "#1f78b4", "#b15928", "#33a02c", "#e31a1c", "#ff7f00",
                 "#a6cee3", "#cab2d6", "#b2df8a", "#fb9a99", "#fdbf6f", "#666666")
