using Occystrap.Abstractions;
using Occystrap.Formats.Daemons;

namespace Occystrap.Outputs.Docker;

/// <summary><c>docker://IMAGE[:TAG][?socket=PATH]</c>: load the image into a Docker or Podman daemon under that name.</summary>
[OutputPlugin("docker")]
public sealed class DockerOutput : IOutputPlugin
{
    public string Description => "Load an image into a Docker or Podman daemon, tagged with the whole name given";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("socket", OptionType.String, "The daemon's unix socket (default: DOCKER_HOST if unix://, else /var/run/docker.sock)"),
    ];

    public async Task<IImageSink> CreateAsync(PluginInvocation invocation, ImageName source, CancellationToken cancellationToken)
    {
        var name = invocation.Target.Length > 0 ? ImageName.Parse(invocation.Target) : source;
        if (name.IsUnnamed || name.Tag is null) throw new UsageException("docker:// as an output needs a name with a tag, e.g. docker://occy/app:1");
        var client = await EngineClient.ConnectAsync(EngineClient.ChooseSocket(invocation.Options.GetString("socket")), cancellationToken).ConfigureAwait(false);
        return new DaemonLoadWriter(client, name, invocation.TempDir, invocation.Logger);
    }
}
