using Occystrap.Abstractions;

namespace Occystrap.Registry;

/// <summary>Builds a client for a <c>registry://</c> URI from its query options and the registry access the host gave.</summary>
public static class RegistryConnection
{
    public static (RegistryClient Client, ImageReference Reference) Open(PluginInvocation invocation)
    {
        var reference = ImageReference.Parse(invocation.RawTarget);
        var access = invocation.Registry ?? RegistryAccess.None;
        bool insecure = invocation.Options.GetBool("insecure") ?? access.Insecure;
        int workers = Workers(invocation);
        var credential = new Lazy<Credential?>(() => Credentials.Find(reference.Registry, access.Username, access.Password, reference));
        var client = new RegistryClient(reference.Registry, new RegistryClientOptions
        {
            Insecure = insecure,
            Credential = credential,
            MaxConnections = workers + 2,
            Logger = invocation.Logger,
        });
        return (client, reference);
    }

    /// <summary>Parallel transfers: <c>max_workers</c>, else <c>-j</c>.</summary>
    public static int Workers(PluginInvocation invocation)
    {
        int workers = (int)(invocation.Options.GetInt("max_workers") ?? invocation.Output.Parallel);
        if (workers < 1) throw new UsageException("max_workers must be at least 1");
        return workers;
    }

    public static IReadOnlyList<OptionDescriptor> CommonOptions { get; } =
    [
        new("insecure", OptionType.Bool, "Plain HTTP instead of HTTPS (default: --insecure)"),
        new("max_workers", OptionType.Int, "Parallel transfers: layers pushed at once (output), connections used (input) (default: --parallel, 4)"),
    ];
}
