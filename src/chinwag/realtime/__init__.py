"""The Socket.IO layer: the namespace (thin handlers) and the publisher behind the seam."""
