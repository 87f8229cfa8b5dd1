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
        var process = new Command("process", "Stream an image from SOURCE through the filters to DESTINATION") { src, dest, filter };
        process.SetAction((r, ct) => run(r, ct, (app, t) => Commands.ProcessAsync(app, r.GetValue(src)!, r.GetValue(dest)!, r.GetValue(filter) ?? [], t)));
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
        return root;
    }
}
