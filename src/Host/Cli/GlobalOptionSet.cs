using System.CommandLine;
using System.CommandLine.Parsing;
using Occystrap.Abstractions;

namespace Occystrap.Host.Cli;

/// <summary>The global options: given before the command (after it works too), each with its environment variable where the reference names one.</summary>
internal sealed class GlobalOptionSet
{
    public Option<bool> Verbose { get; } = new("--verbose") { Description = "Debug logging for occystrap and its plugins", Recursive = true };
    public Option<bool> Quiet { get; } = new("--quiet", "-q") { Description = "Print only errors and results: no progress, no notes, no warnings", Recursive = true };
    public Option<bool> Debug { get; } = new("--debug") { Description = "Debug logging for everything, and stack traces on errors", Recursive = true };
    public Option<string> Os { get; } = new("--os") { Description = "Target operating system", DefaultValueFactory = _ => "linux", Recursive = true, HelpName = "OSNAME" };
    public Option<string> Architecture { get; } = new("--architecture") { Description = "Target CPU architecture", DefaultValueFactory = _ => "amd64", Recursive = true, HelpName = "ARCH" };
    public Option<string?> Variant { get; } = new("--variant") { Description = "CPU variant (e.g. v8 for ARM)", Recursive = true, HelpName = "VARIANT" };
    public Option<string?> Username { get; } = new("--username") { Description = "Registry username [env: OCCYSTRAP_USERNAME]", DefaultValueFactory = _ => Env("OCCYSTRAP_USERNAME"), Recursive = true, HelpName = "USER" };
    public Option<string?> Password { get; } = new("--password") { Description = "Registry password [env: OCCYSTRAP_PASSWORD]", DefaultValueFactory = _ => Env("OCCYSTRAP_PASSWORD"), Recursive = true, HelpName = "PASS" };
    public Option<string?> SrcCreds { get; } = new("--src-creds") { Description = "USER:PASSWORD for the source registry only (instead of --username/--password)", Recursive = true, HelpName = "USER:PASS" };
    public Option<string?> DestCreds { get; } = new("--dest-creds") { Description = "USER:PASSWORD for the destination registry only (instead of --username/--password)", Recursive = true, HelpName = "USER:PASS" };
    public Option<bool> Insecure { get; } = new("--insecure") { Description = "Use HTTP instead of HTTPS for registries", Recursive = true };
    public Option<string?> Compression { get; } = new("--compression") { Description = "Store every layer in this compression (gzip or zstd), recompressing others; by default compressed layers pass as they are [env: OCCYSTRAP_COMPRESSION]", DefaultValueFactory = _ => Env("OCCYSTRAP_COMPRESSION"), Recursive = true, HelpName = "TYPE" };
    public Option<int> Parallel { get; } = new("--parallel", "-j") { Description = "Layers handled at once by outputs that take them in parallel [env: OCCYSTRAP_PARALLEL]", DefaultValueFactory = ParallelDefault, Recursive = true, HelpName = "N" };
    public Option<string?> TempDir { get; } = new("--temp-dir") { Description = "Folder for temporary files [env: OCCYSTRAP_TEMP_DIR]", DefaultValueFactory = _ => Env("OCCYSTRAP_TEMP_DIR"), Recursive = true, HelpName = "PATH" };
    public Option<string?> LayerCache { get; } = new("--layer-cache") { Description = "JSON file for cross-invocation layer caching [env: OCCYSTRAP_LAYER_CACHE]", DefaultValueFactory = _ => Env("OCCYSTRAP_LAYER_CACHE"), Recursive = true, HelpName = "PATH" };
    public Option<string> OutputFormat { get; } = new("--output-format", "-O") { Description = "Output format for process, search, info, check and plugins: text or json", DefaultValueFactory = _ => "text", Recursive = true, HelpName = "FORMAT" };
    public Option<string[]> PluginsDir { get; } = new("--plugins-dir") { Description = "Another folder of plugins (repeatable; also OCCYSTRAP_PLUGIN_PATH)", Recursive = true, HelpName = "PATH" };

    public GlobalOptionSet()
    {
        OutputFormat.Validators.Add(r =>
        {
            string? v = r.Tokens.Count > 0 ? r.Tokens[^1].Value : null;
            if (v is not null && v.ToLowerInvariant() is not ("text" or "json")) r.AddError($"--output-format takes text or json, not '{v}'");
        });
        Compression.Validators.Add(r =>
        {
            // A bad value from the environment is named as the variable it came from.
            bool fromEnv = r.Tokens.Count == 0;
            string? v = fromEnv ? Env("OCCYSTRAP_COMPRESSION") : r.Tokens[^1].Value;
            if (v is not null && v is not ("gzip" or "zstd"))
                r.AddError(fromEnv ? $"OCCYSTRAP_COMPRESSION takes gzip or zstd, not '{v}'" : $"--compression takes gzip or zstd, not '{v}'");
        });
        Parallel.Validators.Add(r =>
        {
            // An unparsable value is already reported by the parser; only the range is checked here.
            if (r.Tokens.Count > 0 && int.TryParse(r.Tokens[^1].Value, out int n) && n < 1)
                r.AddError("--parallel takes a whole number of at least 1");
        });
    }

    public IEnumerable<Option> All => [Verbose, Quiet, Debug, Os, Architecture, Variant, Username, Password, SrcCreds, DestCreds, Insecure, Compression, Parallel, TempDir, LayerCache, OutputFormat, PluginsDir];

    public GlobalOptions Read(ParseResult r) => new()
    {
        Verbose = r.GetValue(Verbose),
        Debug = r.GetValue(Debug),
        Quiet = r.GetValue(Quiet),
        Os = r.GetValue(Os) ?? "linux",
        Architecture = r.GetValue(Architecture) ?? "amd64",
        ArchitectureGiven = r.GetResult(Architecture) is { Implicit: false },
        Variant = r.GetValue(Variant),
        Username = r.GetValue(Username),
        Password = r.GetValue(Password),
        Insecure = r.GetValue(Insecure),
        SourceCredentials = Creds(r.GetValue(SrcCreds), "--src-creds"),
        DestinationCredentials = Creds(r.GetValue(DestCreds), "--dest-creds"),
        Compression = r.GetValue(Compression) switch
        {
            "gzip" => LayerCompression.Gzip,
            "zstd" => LayerCompression.Zstd,
            _ => null,
        },
        Parallel = r.GetValue(Parallel),
        TempDir = r.GetValue(TempDir) ?? Path.GetTempPath(),
        LayerCache = r.GetValue(LayerCache),
        OutputFormat = r.GetValue(OutputFormat)?.ToLowerInvariant() ?? "text",
    };

    /// <summary><c>USER:PASSWORD</c>, split at the first colon (a password may hold colons).</summary>
    private static (string User, string Password)? Creds(string? value, string option)
    {
        if (value is null) return null;
        int colon = value.IndexOf(':');
        if (colon <= 0) throw new UsageException($"{option} takes USER:PASSWORD");
        return (value[..colon], value[(colon + 1)..]);
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    private static int ParallelDefault(ArgumentResult r)
    {
        string? v = Env("OCCYSTRAP_PARALLEL");
        if (v is null) return 4;
        if (int.TryParse(v, out int n) && n >= 1) return n;
        r.AddError($"OCCYSTRAP_PARALLEL must be a whole number of at least 1, not '{v}'");
        return 4;
    }
}
