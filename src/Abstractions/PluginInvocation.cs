using Microsoft.Extensions.Logging;

namespace Occystrap.Abstractions;

/// <summary>Everything one use of a plugin gets from the host: each part only to the plugins it is for.</summary>
/// <param name="Target">For URIs, what follows <c>scheme://</c> up to the query, percent-decoded; empty for filters.</param>
/// <param name="Options">The options, already validated and converted to their declared types.</param>
/// <param name="Logger">A logger named after the plugin; writes to stderr.</param>
/// <param name="Progress">Where long work reports progress.</param>
public sealed record PluginInvocation(
    string Target,
    OptionValues Options,
    ILogger Logger,
    IProgressReporter Progress)
{
    /// <summary>The target exactly as written (not percent-decoded), for plugins that split it before decoding (credentials).</summary>
    public string RawTarget { get; init; } = Target;

    /// <summary>The platform to choose from a multi-platform image (<c>--os</c>, <c>--architecture</c>, <c>--variant</c>).</summary>
    public PlatformChoice Platform { get; init; } = PlatformChoice.Default;

    /// <summary>Defaults for sinks: layer compression and parallelism.</summary>
    public OutputDefaults Output { get; init; } = OutputDefaults.Default;

    /// <summary>Where temporary files go (<c>--temp-dir</c>); removed by whoever made them.</summary>
    public string TempDir { get; init; } = Path.GetTempPath();

    /// <summary>Credentials and transport settings for registries: set only for an <see cref="IRegistryPlugin"/> input or output.</summary>
    public RegistryAccess? Registry { get; init; }

    /// <summary>
    /// Where a filter writes what it reports for the user (search matches): standard output, or standard error
    /// when the image itself goes to standard output (<c>tar://-</c>). Never write to <see cref="Console.Out"/> directly.
    /// </summary>
    public TextWriter Report { get; init; } = Console.Out;

    /// <summary>
    /// Set when the command prints one JSON document (<c>-O json</c>): a filter then adds what it reports
    /// here, item by item, and writes nothing to <see cref="Report"/>. Null for text output.
    /// </summary>
    public IStructuredReport? Structured { get; init; }

    /// <summary>
    /// Set by <c>check</c>: an input that meets a problem it can read past (a config whose digest or size
    /// disagrees with its descriptor, a layer count that disagrees with the diff_ids) reports it here and
    /// goes on, so that every problem is found. Null for every other command: then refuse the image.
    /// </summary>
    public IImageProblems? Problems { get; init; }

    /// <summary>
    /// Set for an input when the run uses a layer cache (<c>--layer-cache</c>): it says which input layers
    /// the run will take from the cache without reading them (none when the destination stores no blobs).
    /// An input that would otherwise have to receive those layers (an image pushed to it) can decline them.
    /// Null when the run uses no layer cache.
    /// </summary>
    public ILayerCacheQuery? LayerCache { get; init; }
}

/// <summary>What an input may ask of the run's layer cache (see <see cref="PluginInvocation.LayerCache"/>).</summary>
public interface ILayerCacheQuery
{
    /// <summary>The cache file. An input that keeps notes of its own for the cache puts them beside it (<c>PATH.something</c>).</summary>
    string Path { get; }

    /// <summary>
    /// True when the run will not read the input layer with this diff_id: the cache holds what it became
    /// under this run's filters and compression, and the destination confirmed it still stores that blob.
    /// The answer may wait until the destination is open, so an input must not call it before its
    /// <see cref="IInputPlugin.OpenAsync"/> has returned. False when the cache cannot be used for this run.
    /// </summary>
    ValueTask<bool> IsStoredAsync(Digest diffId, CancellationToken cancellationToken);
}

/// <summary>Where a source reports the problems it read past (see <see cref="PluginInvocation.Problems"/>).</summary>
public interface IImageProblems
{
    /// <param name="check">A stable id, as <c>check</c> lists them: <c>config-digest</c>, <c>config-size</c>, <c>layer-count</c>...</param>
    /// <param name="message">One line that names the image and what disagrees.</param>
    void Report(string check, string message);
}

/// <summary>A plugin's part of the command's JSON document: the items it reports (search matches, for one).</summary>
public interface IStructuredReport
{
    /// <summary>Adds one item. Safe to call from several threads.</summary>
    void Add(System.Text.Json.Nodes.JsonObject item);
}

/// <summary>The platform wanted from a multi-platform image. A null variant takes the rule's default (none, or v8/v7 for arm64/arm).</summary>
public sealed record PlatformChoice(string Os, string Architecture, string? Variant)
{
    public static PlatformChoice Default { get; } = new("linux", "amd64", null);

    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
}

/// <summary>Output defaults from the command line.</summary>
/// <param name="Compression">The compression asked for with <c>--compression</c>, or null when none was: then compressed layers pass as they are.</param>
/// <param name="Parallel">Layers handled at once (<c>-j</c>).</param>
public sealed record OutputDefaults(LayerCompression? Compression, int Parallel)
{
    public static OutputDefaults Default { get; } = new(null, 4);
}

/// <summary>Registry credentials and transport settings from the command line (<c>--username</c>, <c>--password</c>, <c>--insecure</c>).</summary>
public sealed record RegistryAccess(string? Username, string? Password, bool Insecure)
{
    public static RegistryAccess None { get; } = new(null, null, false);

    /// <summary>Never shows the password.</summary>
    public override string ToString() => $"RegistryAccess {{ Username = {Username}, Password = {(Password is null ? "" : "***")}, Insecure = {Insecure} }}";
}
