using Occystrap.Abstractions;

namespace Occystrap.Host.Cli;

/// <summary>
/// The global options of the command line (each may come from its environment variable). Plugins never
/// see this record: each gets only its scoped part (platform, output defaults, registry access).
/// </summary>
internal sealed record GlobalOptions
{
    public bool Verbose { get; init; }
    public bool Debug { get; init; }
    public string Os { get; init; } = "linux";
    public string Architecture { get; init; } = "amd64";
    public string? Variant { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
    public bool Insecure { get; init; }
    public LayerCompression? Compression { get; init; }
    public int Parallel { get; init; } = 4;
    public string TempDir { get; init; } = Path.GetTempPath();
    public string? LayerCache { get; init; }
    public string OutputFormat { get; init; } = "text";

    public PlatformChoice Platform => new(Os, Architecture, Variant);

    public OutputDefaults Output => new(Compression, Parallel);

    public RegistryAccess Registry => new(Username, Password, Insecure);
}
