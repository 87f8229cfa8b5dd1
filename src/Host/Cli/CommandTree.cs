using System.CommandLine;
using Occystrap.Abstractions;

namespace Occystrap.Host.Cli;

/// <summary>Runs a command's work with the App built from the parse result; the token is cancelled by Ctrl+C or SIGTERM.</summary>
internal delegate Task<int> CommandRunner(ParseResult parse, CancellationToken cancellation, Func<App, CancellationToken, Task<int>> work);

/// <summary>The command line: global options, the commands, and the legacy commands mapped onto them.</summary>
internal static class CommandTree
{
    public static RootCommand Build(GlobalOptionSet globals, CommandRunner run)
    {
        var root = new RootCommand("Occystrap: stream container images from registries, daemons and archives through filters into archives, folders, bundles, daemons and registries.");
        foreach (var o in globals.All) root.Options.Add(o);

        // process
        var src = new Argument<string>("SOURCE") { Description = "Input URI, e.g. tar://image.tar or registry://host/name:tag" };
        var dest = new Argument<string>("DESTINATION") { Description = "Output URI, e.g. tar://out.tar" };
        var filter = new Option<string[]>("--filter", "-f") { Description = "A filter, name[:key=value,...] (repeatable; applied in order)", HelpName = "FILTER" };
        var digestFile = new Option<string?>("--digestfile") { Description = "Write the digest of the written image to FILE (the manifest digest, or the image id where no manifest is stored)", HelpName = "FILE" };
        var process = new Command("process", "Stream an image from SOURCE through the filters to DESTINATION") { src, dest, filter, digestFile };
        process.SetAction((r, ct) => run(r, ct, (app, t) => Commands.ProcessAsync(app, r.GetValue(src)!, r.GetValue(dest)!, r.GetValue(filter) ?? [], t, r.GetValue(digestFile))));
        root.Subcommands.Add(process);

        // search
        var searchSrc = new Argument<string>("SOURCE") { Description = "Input URI of the image to search" };
        var pattern = new Argument<string>("PATTERN") { Description = "Glob (or regex with --regex) matched against paths in the layers" };
        var regex = new Option<bool>("--regex") { Description = "PATTERN is a regular expression" };
        var scriptFriendly = new Option<bool>("--script-friendly") { Description = "One match per line: image:tag:layer:path" };
        var search = new Command("search", "Search for files in an image's layers") { searchSrc, pattern, regex, scriptFriendly };
        search.SetAction((r, ct) => run(r, ct, (app, t) => Commands.SearchAsync(app, r.GetValue(searchSrc)!, r.GetValue(pattern)!, r.GetValue(regex), r.GetValue(scriptFriendly), t)));
        root.Subcommands.Add(search);

        // info
        var infoSrc = new Argument<string>("SOURCE") { Description = "Input URI of the image to describe" };
        var raw = new Option<bool>("--raw") { Description = "Print the manifest's bytes exactly, as skopeo inspect --raw does" };
        var configOnly = new Option<bool>("--config") { Description = "Print the config's bytes exactly" };
        var info = new Command("info", "Describe an image from its manifest and config, without reading its layers") { infoSrc, raw, configOnly };
        info.SetAction((r, ct) => run(r, ct, (app, t) => InfoCommand.RunAsync(app, r.GetValue(infoSrc)!, r.GetValue(raw), r.GetValue(configOnly), t)));
        root.Subcommands.Add(info);

        // check
        var checkSrc = new Argument<string>("SOURCE") { Description = "Input URI of the image to check" };
        var fastOption = new Option<bool>("--fast") { Description = "Check the manifest and config only; read no layer" };
        var check = new Command("check", "Check an image: metadata, and with full mode every layer's digest, tar and paths; exit 1 on any error") { checkSrc, fastOption };
        check.SetAction((r, ct) => run(r, ct, (app, t) => CheckCommand.RunAsync(app, r.GetValue(checkSrc)!, r.GetValue(fastOption), t)));
        root.Subcommands.Add(check);

        // plugins
        var plugins = new Command("plugins", "List the input schemes, output schemes and filters, with their options and where they come from");
        plugins.SetAction((r, ct) => run(r, ct, (app, _) => Task.FromResult(Commands.ListPlugins(app))));
        root.Subcommands.Add(plugins);

        foreach (var legacy in LegacyCommands.Build(run)) root.Subcommands.Add(legacy);

        // help [TOPIC]: the same text as --help, for the root, a command, or the legacy commands.
        var topic = new Argument<string?>("TOPIC") { Description = "A command, or 'legacy' for the deprecated commands", Arity = ArgumentArity.ZeroOrOne };
        var help = new Command("help", "Show help for occystrap, for a command (help process), or for the deprecated commands (help legacy)") { topic };
        help.SetAction(r =>
        {
            string? t = r.GetValue(topic);
            if (t is "legacy")
            {
                Console.Out.Write(LegacyCommands.Topic());
                return 0;
            }
            if (t is not null && !root.Subcommands.Any(c => c.Name == t))
            {
                string? near = ParseErrors.Nearest(t, root.Subcommands.Select(c => c.Name).Append("legacy"));
                Console.Error.WriteLine($"occystrap: error: no help topic '{t}'{(near is null ? "" : $"; did you mean '{near}'?")} (see occystrap --help)");
                return 2;
            }
            var parse = root.Parse(t is null ? ["--help"] : [t, "--help"]);
            PrepareHelp(parse, globals);
            return parse.Invoke();
        });
        root.Subcommands.Add(help);
        return root;
    }

    /// <summary>What a command's own help adds below its one-line description (the overview lists only that line).</summary>
    private static readonly Dictionary<string, string> Details = new(StringComparer.Ordinal)
    {
        ["process"] = """
            oci:// here is an OCI runtime bundle (for runc); oci-layout:// is an OCI image layout, what skopeo calls oci:.

            Examples:
              occystrap process tar://image.tar registry://registry.example.com/team/app:1
              occystrap --insecure process registry://127.0.0.1:5000/app:1 tar://app.tar -f normalize-timestamps
              occystrap process docker://app:1 oci-layout://images?ref=app-1 -f 'exclude:pattern=**/.git/**'
              occystrap process tar://image.tar dir://rootfs?expand=true
            """,
        ["search"] = """
            Examples:
              occystrap search tar://image.tar '*.conf'
              occystrap search --regex --script-friendly registry://registry.example.com/app:1 '^etc/.*\.key$'
            """,
        ["info"] = """
            Examples:
              occystrap info registry://registry.example.com/app:1
              occystrap -O json info tar://image.tar
              occystrap info --raw oci-layout://images?ref=app-1
            """,
        ["check"] = """
            Examples:
              occystrap check tar://image.tar
              occystrap check --fast registry://registry.example.com/app:1
              occystrap -O json check dir://images?image=app:1
            """,
        ["plugins"] = """
            Examples:
              occystrap plugins
              occystrap --plugins-dir my-plugins -O json plugins
            """,
    };

    /// <summary>
    /// Before a command's own help is printed: its details and examples go into its text, and for <c>process</c>
    /// the schemes and filters installed (from the plugin declarations; nothing is loaded).
    /// </summary>
    public static void PrepareHelp(ParseResult parse, GlobalOptionSet globals)
    {
        var command = parse.CommandResult.Command;
        if (parse.Action is not System.CommandLine.Help.HelpAction || !Details.TryGetValue(command.Name, out var details)) return;
        if (command.Description!.Contains("Examples:", StringComparison.Ordinal)) return;
        command.Description += ".\n\n" + details;
        if (command.Name == "process")
            command.Description += Installed(Plugins.PluginCatalog.Load(Plugins.PluginCatalog.SearchFolders(parse.GetValue(globals.PluginsDir) ?? []),
                Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
    }

    /// <summary>What <c>process --help</c> adds: the schemes and filters installed, from the plugin declarations.</summary>
    public static string Installed(Plugins.PluginCatalog catalog) =>
        $"\n\nInstalled input schemes: {Names(catalog.Inputs.Keys)}\nInstalled output schemes: {Names(catalog.Outputs.Keys)}\nInstalled filters: {Names(catalog.Filters.Keys)}\n(occystrap plugins shows their options)";

    private static string Names(IEnumerable<string> names) => names.Any() ? string.Join(", ", names.Order(StringComparer.Ordinal)) : "none";
}
