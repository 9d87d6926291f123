"""The Vigil agent: registers with a server, collects its host's inventory on the schedules the server's
associations set and when the package databases change, and delivers it (DESIGN §3.2, §7). It imports
nothing from the server side."""
