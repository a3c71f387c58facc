@problemName Multi
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength true
@seriesLength 3
@classLabel true 1 2 3
@data
1,2,3:10,20,30:1
4,?,6:40,50,60:3
