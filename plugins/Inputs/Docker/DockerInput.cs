using Occystrap.Abstractions;
using Occystrap.Formats.Daemons;

namespace Occystrap.Inputs.Docker;

/// <summary><c>docker://IMAGE[:TAG][?socket=PATH]</c>: an image from a Docker or Podman daemon.</summary>
[InputPlugin("docker")]
public sealed class DockerInput : IDescribingInputPlugin
{
    public string Description => "Read an image from a Docker or Podman daemon (Engine API over a unix socket)";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("socket", OptionType.String, "The daemon's unix socket (default: DOCKER_HOST if unix://, else /var/run/docker.sock)"),
    ];

    /// <summary>From the daemon's inspect and history: no save stream is opened.</summary>
    public async Task<IImageSource> DescribeAsync(PluginInvocation invocation, CancellationToken cancellationToken)
    {
        if (invocation.Target.Length == 0) throw new UsageException("docker:// needs an image name, e.g. docker://busybox:latest");
        using var client = await EngineClient.ConnectAsync(EngineClient.ChooseSocket(invocation.Options.GetString("socket")), cancellationToken).ConfigureAwait(false);
        return await InspectedDaemonImage.OpenAsync(client, invocation.Target, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IImageSource> OpenAsync(PluginInvocation invocation, CancellationToken cancellationToken)
    {
        if (invocation.Target.Length == 0) throw new UsageException("docker:// needs an image name, e.g. docker://busybox:latest");
        var client = await EngineClient.ConnectAsync(EngineClient.ChooseSocket(invocation.Options.GetString("socket")), cancellationToken).ConfigureAwait(false);
        try
        {
            return await DaemonImage.OpenAsync(client, invocation.Target, invocation.TempDir, invocation.Logger, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }
}
