namespace Backstop.Infrastructure.OperatorConsole;

/// <summary>The console's one stylesheet, compiled into the binary (served at <c>/console/console.css</c>); colours keep a contrast of 4.5:1 or more.</summary>
internal static class ConsoleStyles
{
    public const string Css = """
        :root { color-scheme: light; --ink: #1b1f24; --muted: #4a535d; --line: #c9d1d9; --accent: #0b5cad; --bad: #a1161b; --good: #1a6b32; --bg: #ffffff; --panel: #f3f5f7; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
        a { color: var(--accent); }
        a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, pre:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
        .skip { position: absolute; left: -999px; }
        .skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; }
        header { display: flex; flex-wrap: wrap; align-items: center; gap: 16px; padding: 8px 24px; background: var(--panel); border-bottom: 1px solid var(--line); }
        header .brand { margin: 0; font-weight: 700; }
        header .brand a { color: var(--ink); text-decoration: none; }
        nav ul { display: flex; gap: 16px; list-style: none; margin: 0; padding: 0; }
        .signout { margin-left: auto; display: flex; gap: 8px; align-items: center; color: var(--muted); }
        main { padding: 16px 24px 48px; max-width: 1200px; }
        h1 { font-size: 1.6rem; margin: 8px 0 16px; }
        h2 { font-size: 1.2rem; margin: 24px 0 8px; }
        table { border-collapse: collapse; width: 100%; margin: 8px 0; }
        caption { text-align: left; color: var(--muted); padding: 4px 0; }
        th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: var(--panel); }
        code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
        pre { background: var(--panel); border: 1px solid var(--line); padding: 12px; overflow: auto; max-height: 60vh; }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
        dt { color: var(--muted); }
        dd { margin: 0; }
        .filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 12px; }
        input, select, button { font: inherit; padding: 4px 8px; border: 1px solid var(--muted); border-radius: 4px; background: var(--bg); color: var(--ink); }
        button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
        .empty { color: var(--muted); font-style: italic; }
        .error { color: var(--bad); font-weight: 600; }
        .notice { color: var(--good); font-weight: 600; }
        .status-dead, .status-failed, .status-revoked, .status-expired { color: var(--bad); font-weight: 600; }
        .status-processed, .status-active { color: var(--good); }
        .usage { list-style: none; padding: 0; display: grid; grid-template-columns: max-content 240px max-content; gap: 8px 16px; align-items: center; }
        .usage li { display: contents; }
        meter { width: 240px; height: 18px; }
        .pager { margin: 12px 0; }
        .charts { display: flex; flex-wrap: wrap; gap: 16px 32px; }
        figure.chart { margin: 0; max-width: 100%; }
        figure.chart figcaption { font-weight: 600; }
        svg.chart { max-width: 100%; height: auto; }
        .legend { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; margin: 4px 0; padding: 0; }
        details summary { cursor: pointer; color: var(--accent); }
        .actions { display: grid; gap: 12px; max-width: 720px; }
        .actions form { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; padding: 8px; border: 1px solid var(--line); border-radius: 4px; }
        button.secondary { background: var(--bg); color: var(--accent); }
        """;
}
