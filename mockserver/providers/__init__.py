"""Provider adapters: each translates one API's wire format to and from the core. They never import each other."""
