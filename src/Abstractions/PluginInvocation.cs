using Microsoft.Extensions.Logging;

namespace Occystrap.Abstractions;

/// <summary>Everything one use of a plugin gets from the host.</summary>
/// <param name="Target">For URIs, what follows <c>scheme://</c> up to the query, percent-decoded; empty for filters.</param>
/// <param name="Options">The options, already validated and converted to their declared types.</param>
/// <param name="Globals">The global command-line options, for plugins that fall back to them.</param>
/// <param name="Logger">A logger named after the plugin; writes to stderr.</param>
/// <param name="Progress">Where long work reports progress.</param>
public sealed record PluginInvocation(
    string Target,
    OptionValues Options,
    GlobalOptions Globals,
    ILogger Logger,
    IProgressReporter Progress)
{
    /// <summary>The target exactly as written (not percent-decoded), for plugins that split it before decoding (credentials).</summary>
    public string RawTarget { get; init; } = Target;
}

/// <summary>The global options of the command line (each may come from its environment variable).</summary>
public sealed record GlobalOptions
{
    public bool Verbose { get; init; }
    public bool Debug { get; init; }
    public string Os { get; init; } = "linux";
    public string Architecture { get; init; } = "amd64";
    public string? Variant { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
    public bool Insecure { get; init; }
    public string? Compression { get; init; }
    public int Parallel { get; init; } = 4;
    public string TempDir { get; init; } = Path.GetTempPath();
    public string? LayerCache { get; init; }
    public string OutputFormat { get; init; } = "text";
}
