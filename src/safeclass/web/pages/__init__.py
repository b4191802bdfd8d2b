"""The staff pages, one module per area. Routes stay thin: fetch and authorise through
`safeclass.access`, change state through `safeclass.actions`, render a template."""
