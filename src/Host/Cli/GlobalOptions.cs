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

    /// <summary><c>--quiet</c>: errors and results only.</summary>
    public bool Quiet { get; init; }
    public string Os { get; init; } = "linux";
    public string Architecture { get; init; } = "amd64";

    /// <summary>Whether --architecture was given, rather than defaulted.</summary>
    public bool ArchitectureGiven { get; init; }
    public string? Variant { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
    public bool Insecure { get; init; }

    /// <summary><c>--src-creds</c>: credentials for the input's registry only.</summary>
    public (string User, string Password)? SourceCredentials { get; init; }

    /// <summary><c>--dest-creds</c>: credentials for the output's registry only.</summary>
    public (string User, string Password)? DestinationCredentials { get; init; }
    public LayerCompression? Compression { get; init; }
    public int Parallel { get; init; } = 4;
    public string TempDir { get; init; } = Path.GetTempPath();
    public string? LayerCache { get; init; }
    public string OutputFormat { get; init; } = "text";

    public PlatformChoice Platform => new(Os, Architecture, Variant);

    public OutputDefaults Output => new(Compression, Parallel);

    /// <summary>What a registry plugin in <paramref name="input"/> or output position gets: its side's own credentials when given, else the global ones.</summary>
    public RegistryAccess RegistryFor(bool input) =>
        (input ? SourceCredentials : DestinationCredentials) is { } own
            ? new RegistryAccess(own.User, own.Password, Insecure)
            : new RegistryAccess(Username, Password, Insecure);
}
