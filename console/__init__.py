"""The web console each node serves under /console: server-rendered pages in Chinese for the
people at a window (窗口), an office (办理) and operators (运维), over the API's services."""
