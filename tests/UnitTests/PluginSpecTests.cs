using Occystrap.Abstractions;
using Occystrap.Host.Plugins;

namespace Occystrap.UnitTests;

public sealed class PluginSpecTests
{
    private sealed class Fake(params OptionDescriptor[] options) : IPlugin
    {
        public string Name => "fake";
        public string Description => "";
        public IReadOnlyList<OptionDescriptor> Options => options;
    }

    [Theory]
    [InlineData("tar://image.tar", "tar", "image.tar")]
    [InlineData("tar:image.tar", "tar", "image.tar")]
    [InlineData("file:///abs/x.tar", "tar", "/abs/x.tar")]
    [InlineData("DIRECTORY://./out", "dir", "./out")]
    [InlineData("registry://localhost:5000/a/b:tag?insecure=true", "registry", "localhost:5000/a/b:tag")]
    public void Parses_uris(string uri, string scheme, string target)
    {
        var spec = PluginSpec.ParseUri(uri);
        spec.Name.Should().Be(scheme);
        spec.Target.Should().Be(target);
    }

    [Fact]
    public void Query_options_are_decoded_and_typed()
    {
        var spec = PluginSpec.ParseUri("dir://out?expand=yes&max_workers=8&name=a%2Fb%3Av1");
        var values = spec.Bind(new Fake(new("expand", OptionType.Bool, ""), new("max_workers", OptionType.Int, ""), new("name", OptionType.String, "")), "output");
        values.GetBool("expand").Should().BeTrue();
        values.GetInt("max_workers").Should().Be(8);
        values.GetString("name").Should().Be("a/b:v1");
    }

    [Fact]
    public void A_filter_list_value_may_hold_commas()
    {
        var spec = PluginSpec.ParseFilter("exclude:pattern=**/.git/**,**/__pycache__/**,**/*.pyc");
        var values = spec.Bind(new Fake(new OptionDescriptor("pattern", OptionType.List, "") { Required = true }), "filter");
        values.GetList("pattern").Should().Equal("**/.git/**", "**/__pycache__/**", "**/*.pyc");
    }

    [Fact]
    public void A_regex_with_commas_stays_whole_and_later_options_still_parse()
    {
        var spec = PluginSpec.ParseFilter("search:pattern=a{1,3}\\.py$,regex=true");
        var values = spec.Bind(new Fake(new("pattern", OptionType.String, ""), new("regex", OptionType.Bool, "")), "filter");
        values.GetString("pattern").Should().Be("a{1,3}\\.py$");
        values.GetBool("regex").Should().BeTrue();
    }

    [Fact]
    public void Filter_names_are_normalised()
    {
        PluginSpec.ParseFilter("Normalize_Timestamps:ts=5").Name.Should().Be("normalize-timestamps");
    }

    [Theory]
    [InlineData("fake:nope=1", "*has no option 'nope'*")]
    [InlineData("fake:count=many", "*'count' takes a whole number, not 'many'*")]
    [InlineData("fake", "*needs the option 'count'*")]
    [InlineData("fake:count=1,flag=maybe", "*'flag' takes true or false*")]
    [InlineData("fake:1", "*option '1' has no value*")]
    public void Bad_options_are_usage_errors_naming_plugin_and_option(string text, string message)
    {
        var plugin = new Fake(new OptionDescriptor("count", OptionType.Int, "how many") { Required = true }, new("flag", OptionType.Bool, ""));
        var act = () => PluginSpec.ParseFilter(text).Bind(plugin, "filter");
        act.Should().Throw<UsageException>().WithMessage(message);
    }

    [Fact]
    public void A_query_key_without_value_is_true_for_a_bool_and_an_error_otherwise()
    {
        var plugin = new Fake(new("insecure", OptionType.Bool, ""), new("name", OptionType.String, ""));
        PluginSpec.ParseUri("x://y?insecure").Bind(plugin, "input").GetBool("insecure").Should().BeTrue();
        var act = () => PluginSpec.ParseUri("x://y?name").Bind(plugin, "input");
        act.Should().Throw<UsageException>().WithMessage("*'name' needs a value*");
    }

    [Fact]
    public void Dashes_and_underscores_in_option_names_are_the_same()
    {
        var plugin = new Fake(new("keep_copyright", OptionType.Bool, ""), new OptionDescriptor("max-size", OptionType.Int, "") { Default = 5 });
        var values = PluginSpec.ParseFilter("f:keep-copyright=true").Bind(plugin, "filter");
        values.GetBool("keep_copyright").Should().BeTrue();
        values.GetInt("max-size").Should().Be(5);
        PluginSpec.ParseFilter("f:max_size=7").Bind(plugin, "filter").GetInt("max-size").Should().Be(7);
    }

    [Fact]
    public void A_uri_without_scheme_is_a_usage_error()
    {
        var act = () => PluginSpec.ParseUri("/just/a/path.tar");
        act.Should().Throw<UsageException>().WithMessage("*has no scheme*");
    }
}
