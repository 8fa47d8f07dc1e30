"""Model -> plan, pure: graph, addressing, routing, firewall and link-property passes."""
