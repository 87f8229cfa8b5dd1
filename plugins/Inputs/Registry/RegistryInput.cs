using Occystrap.Abstractions;
using Occystrap.Registry;

namespace Occystrap.Inputs.Registry;

/// <summary><c>registry://HOST[:PORT]/NAME:TAG</c> or <c>…/NAME@sha256:…</c>: an image from a Docker/OCI registry.</summary>
[InputPlugin("registry")]
public sealed class RegistryInput : IInputPlugin, IRegistryPlugin
{
    public string Description => "Read an image from a Docker/OCI registry (HTTP API v2)";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("arch", OptionType.String, "CPU architecture in a multi-platform image (default: --architecture)") { Aliases = ["architecture"] },
        new("os", OptionType.String, "Operating system in a multi-platform image (default: --os)"),
        new("variant", OptionType.String, "CPU variant, e.g. v8 (default: --variant)"),
        .. RegistryConnection.CommonOptions,
    ];

    public async Task<IImageSource> OpenAsync(PluginInvocation invocation, CancellationToken cancellationToken)
    {
        var (client, reference) = RegistryConnection.Open(invocation);
        try
        {
            var o = invocation.Options;
            var platform = new PlatformChoice(
                o.GetString("os") ?? invocation.Platform.Os,
                o.GetString("arch") ?? invocation.Platform.Architecture,
                o.GetString("variant") ?? invocation.Platform.Variant);
            return await RegistryImage.OpenAsync(client, reference, platform, ownsClient: true, cancellationToken, invocation.Logger, invocation.Problems).ConfigureAwait(false);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }
}
