using Microsoft.Extensions.Logging.Abstractions;
using Occystrap.Abstractions;
using Occystrap.Formats.Tar;
using Occystrap.Host.Plugins;
using Occystrap.Pipeline;
using Occystrap.TestKit;

namespace Occystrap.UnitTests;

/// <remarks>Redirects the process's stdout while it runs: shares the collection of tests that touch process state.</remarks>
[Collection("process environment")]
public sealed class SearchOutputTests
{
    [Fact]
    public async Task Names_with_control_characters_cannot_forge_lines_or_reach_the_terminal()
    {
        using var ms = new MemoryStream();
        using (var w = new TarArchiveWriter(ms, leaveOpen: true))
        {
            foreach (string name in new[] { "etc/evil\nforged:1:" + new string('a', 64) + ":passwd", "etc/\u001b]0;pwned\u0007title", "etc/back\\slash" })
                w.WriteEntry(new LayerEntry(name, EntryKind.File, 0) { Mode = 0x1A4 }, new MemoryStream());
            w.Finish();
        }
        byte[] tar = ms.ToArray();
        var layer = new InMemoryLayer(0, tar, tar, LayerCompression.None, null);
        var source = RandomImage.Build(ImageName.Parse("localhost/x/y:1"), [layer], null);
        var spec = PluginSpec.ParseFilter("search:pattern=etc/*,script_friendly=true");
        var plugin = new Occystrap.Filters.Search.SearchFilter();
        var stdout = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        try
        {
            // The filter writes to the stdout it finds when it is created.
            var filter = plugin.Create(new PluginInvocation("", spec.Bind(plugin, "filter"), NullLogger.Instance, NullProgressReporter.Instance));
            await new PipelineRunner(NullLogger.Instance, NullProgressReporter.Instance)
                .RunAsync(source, [filter], new InMemoryImageSink(LayerDelivery.EveryLayerInOrder, [], LayerCompression.None), default);
        }
        finally
        {
            Console.SetOut(stdout);
        }
        var lines = captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCount(3, "one line per match, whatever the names hold");
        string prefix = $"localhost/x/y:1:{layer.DiffId.Hex}:";
        lines.Should().AllSatisfy(l => l.Should().StartWith(prefix));
        lines.Select(l => l[prefix.Length..]).Should().BeEquivalentTo(
            "etc/evil\\nforged:1:" + new string('a', 64) + ":passwd", "etc/\\x1b]0;pwned\\x07title", "etc/back\\\\slash");
        captured.ToString().Should().NotContain("\u001b");
    }
}
