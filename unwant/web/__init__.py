"""The web page (`unwant serve`, extra unwant[web]): a Gradio front over the `editor` API, as `cli` is a click one."""
