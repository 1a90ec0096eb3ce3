"""Everything a user reads: tables, text, JSON, CSV, Markdown and DOT, one renderer module per
type of result and one registry of formats (`report.formats`). Renderers read results (model
values from `policy`, `proxy`, `dns`, `path`, `ipam` and `linux`); results never import this
package."""
