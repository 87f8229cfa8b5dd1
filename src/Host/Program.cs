using System.CommandLine;
using Occystrap.Abstractions;
using Occystrap.Host.Cli;

namespace Occystrap.Host;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        StartupTrace.Mark("main");
        // Help and version need neither digests nor JSON.
        if (args.Length > 0 && !args.Any(a => a is "-h" or "-?" or "--help" or "--version" or "help")) Warm(HttpWarmUp.Wanted(args));
        var globals = new GlobalOptionSet();
        var root = CommandTree.Build(globals, RunAsync);
        var parse = root.Parse(args);
        StartupTrace.Mark("command line parsed");
        CommandTree.PrepareHelp(parse, globals);
        if (parse.Errors.Count > 0)
        {
            Console.Error.WriteLine($"occystrap: error: {ParseErrors.OneLine(parse)}");
            return 2;
        }
        // Ctrl+C and SIGTERM cancel the token; the run then removes partial output before it exits.
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) }).ConfigureAwait(false);

        async Task<int> RunAsync(ParseResult result, CancellationToken cancellation, Func<App, CancellationToken, Task<int>> work)
        {
            App? app = null;
            try
            {
                app = new App(globals, result);
                StartupTrace.Mark("app ready");
                return await work(app, cancellation).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                app?.Progress.Dispose();
                return Report(e, app?.Globals.Debug ?? result.GetValue(globals.Debug));
            }
            finally
            {
                app?.Dispose();
            }
        }
    }

    /// <summary>
    /// Start-up work that nearly every command needs later (the OpenSSL digests, the JSON reader, the thread pool,
    /// and for a registry the HTTP stack) is started on another core while this one parses the command line. It
    /// awaits rather than blocks, so a warm-up that waits (up to its 2 s) holds no thread of the pool.
    /// </summary>
    private static void Warm(bool http) => _ = Task.Run(async () =>
    {
        // Only a head start: the real use reports any failure.
        // The first request of a registry command comes soonest: its warm-up goes first.
        if (http)
        {
            try
            {
                await HttpWarmUp.RunAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
            }
        }
        try
        {
            System.Security.Cryptography.SHA256.HashData(ReadOnlySpan<byte>.Empty);
            System.Text.Json.Nodes.JsonNode.Parse("{\"a\":[1,\"b\"]}");
        }
        catch (Exception)
        {
        }
    });

    /// <summary>One line on stderr and the exit code: 2 for usage errors, 130 for an interrupt, 1 otherwise.</summary>
    internal static int Report(Exception e, bool debug)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } agg) e = agg.InnerExceptions[0];
        (string message, int code) = e switch
        {
            UsageException => (e.Message, 2),
            OccystrapException => (e.Message, 1),
            OperationCanceledException => ("interrupted", 130),
            IOException or UnauthorizedAccessException => (e.Message, 1),
            System.IO.InvalidDataException => ($"corrupt compressed data: {e.Message}", 1),
            _ => ($"internal error: {e.GetType().Name}: {e.Message}", 1),
        };
        Console.Error.WriteLine($"occystrap: error: {OneLine(message)}");
        if (debug) Console.Error.WriteLine(e.ToString());
        return code;
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");
}
