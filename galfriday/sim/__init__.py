"""galfriday's Kraken simulator: the real WS v2 and REST protocols on loopback sockets.

The engine never imports this package; it only ever sees URLs.
"""
