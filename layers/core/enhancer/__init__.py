"""The AI image enhancer backend: domain, services, adapters and the HTTP pipeline shared by every function."""
