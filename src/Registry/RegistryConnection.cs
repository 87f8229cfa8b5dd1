using Occystrap.Abstractions;

namespace Occystrap.Registry;

/// <summary>Builds a client for a <c>registry://</c> URI from its query options, falling back to the global options.</summary>
public static class RegistryConnection
{
    public static (RegistryClient Client, ImageReference Reference) Open(PluginInvocation invocation)
    {
        var reference = ImageReference.Parse(invocation.RawTarget);
        var globals = invocation.Globals;
        bool insecure = invocation.Options.GetBool("insecure") ?? globals.Insecure;
        int workers = (int)(invocation.Options.GetInt("max_workers") ?? globals.Parallel);
        if (workers < 1) throw new UsageException("max_workers must be at least 1");
        var credential = new Lazy<Credential?>(() => Credentials.Find(reference.Registry, globals.Username, globals.Password, reference));
        var client = new RegistryClient(reference.Registry, new RegistryClientOptions
        {
            Insecure = insecure,
            Credential = credential,
            MaxConnections = workers + 2,
            Logger = invocation.Logger,
        });
        return (client, reference);
    }

    public static IReadOnlyList<OptionDescriptor> CommonOptions { get; } =
    [
        new("insecure", OptionType.Bool, "Plain HTTP instead of HTTPS (default: --insecure)"),
        new("max_workers", OptionType.Int, "Parallel transfers: layers pushed at once (output), connections used (input) (default: --parallel, 4)"),
    ];
}
