"""SideJPEG desktop app: PySide6 + pyqtgraph; talks to the engine only through `engine`'s public names."""
